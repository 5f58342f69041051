"""The experiments of chapters 4 to 8, runnable on either backend."""
