"""One request as every room below the HTTP edge sees it: the call record, its outcome, its errors, its shape.

The edge (`server/`) makes a `record.Call` once, at the door, and hands it down explicitly:
control, the gateway and the stub read it, and return what they made in an `Outcome`; nothing is
carried sideways in context variables. Nothing here imports connexion: the rooms below the edge
do not know which path a request came by.
"""
