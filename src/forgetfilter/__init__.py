"""forgetfilter."""
