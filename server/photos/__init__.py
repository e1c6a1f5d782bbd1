"""Photos: uploads, their variants, order and signed media URLs."""
