"""Conversations between matched people: messages over REST and the WebSocket, fanned out across processes."""
