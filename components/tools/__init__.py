"""Tools a user runs on their own images with a registered model (`pixelpred flow`, `pixelpred edit`)."""
