"""Gradio Blocks over the modes and the core."""
