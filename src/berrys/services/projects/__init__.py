"""Projects: what a user asks Berrys to do, its lifecycle, and who may see it."""
