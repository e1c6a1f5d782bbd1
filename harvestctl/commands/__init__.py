"""One module per verb group."""
