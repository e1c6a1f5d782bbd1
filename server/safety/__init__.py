"""Safety: blocks and reports, what people do to keep others away from them and to tell us of harm."""
