"""The Textual viewer: reads the model, never asyncio internals."""
