"""Discovery and matching: who appears in whose deck, swipes, and the matches they make."""
