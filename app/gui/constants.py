"""Names and sizes the editor's modules share, in one place."""

from __future__ import annotations

APP_NAME = "LayerForge"
ORG_NAME = "LayerForge"

# Drag-and-drop and clipboard payloads. A custom type keeps a palette drag from being mistaken for
# text, and lets a second window (or a second LayerForge process) recognise pasted nodes.
MIME_LAYER = "application/x-layerforge-layer"
MIME_NODES = "application/x-layerforge-nodes+json"

# Project files are JSON; ``.lfproj`` is the suggested suffix, plain ``.json`` opens too.
PROJECT_SUFFIX = ".lfproj"
PROJECT_FILTER = "LayerForge projects (*.lfproj *.json);;All files (*)"
PROJECT_SUFFIXES = (".lfproj", ".json")

MAX_RECENT_FILES = 10
DEFAULT_WINDOW = (1360, 820)  # a first window's size, made smaller to fit a smaller screen
AUTOSAVE_INTERVAL_MS = 60_000

# Canvas geometry (scene units = pixels at 100 % zoom).
NODE_WIDTH = 184.0
NODE_HEADER = 24.0
NODE_LINE = 15.0
NODE_PADDING = 6.0
PORT_RADIUS = 5.5
PORT_SPACING = 20.0
PASTE_OFFSET = 30.0
ZOOM_MIN = 0.08
ZOOM_MAX = 4.0
READABLE_ZOOM = 0.5  # the least zoom a project opens at: compact cards' text still reads
LAYOUT_GAP_X = 120.0
LAYOUT_GAP_Y = 40.0
LAYOUT_ROW_GAP = 70.0  # between wrapped rows: room for the wire that returns to the next row
