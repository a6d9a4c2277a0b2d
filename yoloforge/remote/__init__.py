"""The library's side of the yoloforge platform: dataset URIs (`datasets.py`) and, later, the streaming
client and its wire protocol. Nothing here imports the server (`yoloforge.platform`)."""
