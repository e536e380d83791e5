"""History page: past generations newest first (`generation.history.list_generations`, what `stylelens
history` lists), each with its picture, inputs and parameters, and "Regenerate" (`regenerate_record`, into
a fresh folder, compared byte by byte with the record)."""
from __future__ import annotations

import streamlit as st

from generation.history import HistoryEntry, count_generations, list_generations, regenerate_record
from ui.studio import state, thumbs
from ui.studio.context import workspace
from ui.studio.errors import reported
from ui.studio.grid import current_page, pager

PAGER = "history_pager"
PER_PAGE = 10


@reported
def _regenerate(record_id: int, *, at: str) -> None:
    again = regenerate_record(workspace(), record_id, progress=False)
    if again.differing:
        state.note(at, "warning", f"Regenerated in {again.out_dir}, but {len(again.differing)} file(s) differ "
                                  f"from the record: {', '.join(again.differing)}")
    else:
        state.note(at, "success", f"Regenerated in {again.out_dir}: byte-identical to record {record_id}")


def _entry(entry: HistoryEntry) -> None:
    at = f"history-{entry.record.id}"
    with st.container(border=True):
        picture, about = st.columns([2, 3])
        with picture:
            if entry.thumbnail is not None:
                thumbs.show(str(entry.thumbnail), f"record {entry.record.id}")
            else:
                st.caption("no images recorded")
        with about:
            st.markdown(f"**{entry.summary()}**")
            st.caption(entry.inputs_text())
            st.caption(f"parameters: {entry.params_text() or '-'}")
            st.caption(f"in {entry.record.out_dir}")
            st.button("Regenerate", key=f"{at}-regenerate", icon=":material/replay:", on_click=_regenerate,
                      args=(entry.record.id,), kwargs={"at": at},
                      help="make it again into a new folder and compare with the recorded files")
            state.show_notes(at)


def render() -> None:
    """The whole page."""
    st.title("History")
    state.show_flashes()
    ws = workspace()
    total = count_generations(ws)
    if not total:
        st.info("No generations yet. Pick styles and a content image, then Generate on the Refine page; "
                "every run is listed here.")
        st.page_link("refine_page.py", label="Go to the Refine page", icon=":material/tune:")
        return
    shown = pager(total, PAGER, PER_PAGE, noun="generations")
    for entry in list_generations(ws, limit=PER_PAGE, offset=current_page(PAGER, total, PER_PAGE) * PER_PAGE):
        _entry(entry)
    if len(shown) > 3:
        pager(total, PAGER, PER_PAGE, noun="generations", where="-bottom")


if __name__ == "__main__":
    render()
