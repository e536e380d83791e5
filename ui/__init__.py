"""User interfaces: the `stylelens` command line and (later) the Streamlit app. Thin layers over the
library functions in `indexer`, `retrieval` and `generation`."""
