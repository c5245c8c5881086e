"""One router per resource of the Zep 0.x API."""
