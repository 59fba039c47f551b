"""What an inspection says: gathered for the window, as text, as files."""
