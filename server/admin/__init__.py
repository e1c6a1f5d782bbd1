"""Administration endpoints for moderators and admins; every route is behind a role guard."""
