"""The chaos soak: mixed load while services crash, the broker restarts and the store
freezes, then an accounting of every vote, credit and notification."""
