"""Models layer: loading by name or path, tiny offline models, and how an example becomes input ids and labels."""
