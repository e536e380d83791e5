"""Collections page: browse a collection, remove items, tag and annotate them, export it in the export
command's formats (`retrieval.collections`, `retrieval.export.from_collection.export_collection`); below,
PARASOL triplet mining (the mining panel)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from indexer.workspace import Workspace
from retrieval.collections import ItemInfo, annotate, collection_items, list_collections, remove_images
from retrieval.export import FORMATS
from retrieval.export.from_collection import export_collection
from retrieval.export.naming import collection_stem
from ui.studio import actions, mining_panel, state
from ui.studio.context import workspace
from ui.studio.errors import reported, shown_errors
from ui.studio.grid import Card, image_grid

_SHOWN = "collection_shown"


def split_tags(text: str) -> set[str]:
    """`a, b ,c` -> {a, b, c} (empty pieces dropped)."""
    return {t.strip() for t in text.split(",") if t.strip()}


@reported
def _save(name: str, item: ItemInfo, key: str) -> None:
    wanted = split_tags(st.session_state.get(f"{key}-tags", ""))
    note = st.session_state.get(f"{key}-note", "")
    annotate(workspace(), name, int(item.image_id), add_tags=tuple(sorted(wanted - set(item.tags))),
             remove_tags=tuple(sorted(set(item.tags) - wanted)), note=None if note == (item.note or "") else note)
    state.flash("success", f"Saved tags and note of id {item.image_id}")


@reported
def _remove(name: str, image_id: int) -> None:
    removed = remove_images(workspace(), name, [image_id])
    state.flash("success" if removed else "info", f"Removed id {image_id} from {name}" if removed
                else f"id {image_id} was not in {name}")


def _caption(item: ItemInfo) -> str:
    where = f"id {item.image_id}" if item.image_id is not None else "left the catalog"
    text = f"{Path(item.path).name} · {where} · {item.corpus or '-'} · tags: {', '.join(item.tags) or '-'}"
    return text + (f" · note: {item.note}" if item.note else "") + f" · added by {item.added_by}"


def _editor(name: str, items: dict[int, ItemInfo]):  # noqa: ANN202 - a grid `below` callable
    def below(card: Card, key: str) -> None:
        item = items.get(card.id) if card.id is not None else None
        if item is None:
            return
        with st.form(f"{key}-form", border=False):
            st.text_input("Tags", value=", ".join(item.tags), key=f"{key}-tags", help="comma-separated")
            st.text_input("Note", value=item.note or "", key=f"{key}-note")
            st.form_submit_button("Save", key=f"{key}-save", on_click=_save, args=(name, item, key))
        st.button("Remove", key=f"{key}-remove", on_click=_remove, args=(name, item.image_id))

    return below


def _items(name: str, items: list[ItemInfo]) -> None:
    st.subheader(f"{name}: {len(items)} items")
    if not items:
        st.info("Empty: add images with “Add to collection” on search or refine results.")
        return
    by_id = {i.image_id: i for i in items if i.image_id is not None}
    cards = [Card(i.image_id, i.path, _caption(i)) for i in items]
    image_grid(cards, key=f"coll-{name}", below=_editor(name, by_id))


def _export(ws: Workspace, name: str) -> None:
    st.subheader("Export")
    fmt_col, out_col = st.columns([1, 3])
    fmt = fmt_col.selectbox("Format", FORMATS, key="export_format")
    default = ws.exports_dir / f"{collection_stem(name)}-{fmt}"
    out = out_col.text_input("Output folder", value=str(default), key=f"export_out-{name}-{fmt}")
    vectors = st.checkbox("Include every space's vectors", key="export_vectors")
    overwrite = st.checkbox("Replace an earlier export in the output folder", key="export_overwrite",
                            help="only a folder StyleLens exported to, holding nothing else, is replaced")
    if st.button("Export", key="export_go"):
        with shown_errors("Export failed"), st.spinner("Exporting..."):
            report = export_collection(ws, name, out, fmt, overwrite=overwrite, include_vectors=vectors)
            st.success(f"Exported {report.n_items} items of {name} as {report.format} to {report.out}")
            st.dataframe({"file": list(report.files)}, hide_index=True)
            for skipped in report.skipped:
                st.warning(f"Skipped {skipped.path}: {skipped.reason}")


def render() -> None:
    """The whole page."""
    st.title("Collections")
    state.show_flashes()
    ws = workspace()
    with st.expander("Create a collection"):
        actions.create_collection_form("collections")
    names = [c["name"] for c in list_collections(ws)]
    if names:
        wanted = st.session_state.get(state.TARGET_COLLECTION)
        name = st.selectbox("Collection", names, key=_SHOWN, index=names.index(wanted) if wanted in names else 0)
        with shown_errors():
            _items(name, collection_items(ws, name))
        _export(ws, name)
    else:
        st.info("No collections yet: create one above.")
    st.divider()
    mining_panel.render(ws)


if __name__ == "__main__":
    render()
