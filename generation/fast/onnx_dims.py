"""Free fixed dimensions of an ONNX model's inputs/outputs, without the `onnx` package.

The shipped Magenta transform graph declares its content input and output as 1x384x384x3, although
every op in it (convolutions, reflect pads, per-channel instance-norm statistics, nearest 2x resizes by
*scale*) works at any spatial size. onnxruntime refuses inputs whose shape differs from a declared
fixed dimension, so we rename those dimensions to symbolic ones (`dim_param`) in the model bytes.
`onnx` is not a dependency (the default install lacks it), and the edit only touches a handful of
nested messages, so this module reads and writes the protobuf wire format directly.
"""
from __future__ import annotations

# ONNX field numbers (onnx.proto3): ModelProto.graph, GraphProto.input/output, ValueInfoProto.name/type,
# TypeProto.tensor_type, TypeProto.Tensor.shape, TensorShapeProto.dim, Dimension.dim_value/dim_param
_MODEL_GRAPH, _GRAPH_INPUT, _GRAPH_OUTPUT = 7, 11, 12
_VALUE_NAME, _VALUE_TYPE, _TYPE_TENSOR, _TENSOR_SHAPE, _SHAPE_DIM = 1, 2, 1, 2, 1
_DIM_PARAM = 2
_LEN = 2  # wire type of length-delimited fields (messages, strings, bytes)

Field = tuple[int, int, bytes]  # (field number, wire type, payload; raw value bytes unless wire type 2)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated protobuf varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _parse(buf: bytes) -> list[Field]:
    """Top-level fields of one message, in order (unknown fields are kept byte for byte)."""
    fields, pos = [], 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, end = _read_varint(buf, pos)
        elif wire == 1:
            end = pos + 8
        elif wire == 5:
            end = pos + 4
        elif wire == _LEN:
            size, pos = _read_varint(buf, pos)
            end = pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if end > len(buf):
            raise ValueError("truncated protobuf field")
        fields.append((number, wire, buf[pos:end]))
        pos = end
    return fields


def _serialize(fields: list[Field]) -> bytes:
    parts = []
    for number, wire, payload in fields:
        parts.append(_varint(number << 3 | wire))
        if wire == _LEN:
            parts.append(_varint(len(payload)))
        parts.append(payload)
    return b"".join(parts)


def _edit(buf: bytes, number: int, fn) -> bytes:
    """Replace every length-delimited field `number` of message `buf` with `fn(payload)`."""
    return _serialize([(n, w, fn(p) if n == number and w == _LEN else p) for n, w, p in _parse(buf)])


def _free_shape(shape: bytes, names: dict[int, str]) -> bytes:
    fields, index = [], 0
    for number, wire, payload in _parse(shape):
        if number == _SHAPE_DIM and wire == _LEN:
            if index in names:
                payload = _serialize([(_DIM_PARAM, _LEN, names[index].encode())])
            index += 1
        fields.append((number, wire, payload))
    return _serialize(fields)


def free_dims(model: bytes, dims: dict[str, dict[int, str]]) -> bytes:
    """Model bytes with graph input/output dims made symbolic: `{value name: {axis: symbol}}`.

    Raises ValueError when a named input/output is not in the graph.
    """
    found: set[str] = set()

    def value_info(buf: bytes) -> bytes:
        fields = _parse(buf)
        name = next((p.decode() for n, w, p in fields if n == _VALUE_NAME and w == _LEN), "")
        if name not in dims:
            return buf
        found.add(name)

        def tensor(buf: bytes) -> bytes:
            return _edit(buf, _TENSOR_SHAPE, lambda shape: _free_shape(shape, dims[name]))

        return _edit(buf, _VALUE_TYPE, lambda type_: _edit(type_, _TYPE_TENSOR, tensor))

    def graph(buf: bytes) -> bytes:
        return _edit(_edit(buf, _GRAPH_INPUT, value_info), _GRAPH_OUTPUT, value_info)

    out = _edit(model, _MODEL_GRAPH, graph)
    missing = sorted(set(dims) - found)
    if missing:
        raise ValueError(f"graph has no input/output named {missing}")
    return out
