"""The part of loopviz that runs inside the observed program: standard library and msgspec only."""
