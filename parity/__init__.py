"""The parity harness: feeds identical weights and batches to numpy_impl and torch_impl."""
