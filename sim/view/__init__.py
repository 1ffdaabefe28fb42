"""Watching runs: ``discsim view`` (a live page in the browser, :mod:`.app`) and ``discsim animate`` (a run's
snapshots as a GIF or MP4, :mod:`.animate`). :mod:`.session` holds one page's model, :mod:`.section` what both
draw of a section, in mm.

The browser view needs the optional ``view`` extra (Bokeh); the animation needs only matplotlib.
"""
