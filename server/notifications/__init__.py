"""What a person is told of while away: in-app notifications of new matches and waiting messages."""
