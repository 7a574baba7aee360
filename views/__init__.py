"""Presentation shared by the web app and the CLI: the SVG charts and the management report's HTML and PDF.
Below web/ and cli/, above services/: it renders what services return, and knows no request or command."""
