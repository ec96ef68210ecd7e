"""Media: checks on uploads, images, speech and video, and their commands."""
