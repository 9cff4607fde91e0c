"""The classroom page: a small world a teacher projects and steers, with a guided lesson.

``python -m sim.page`` serves it on localhost (Mesa's SolaraViz; the extra
``pip install -e '.[page]'``); ``python -m sim.page export lesson.html`` writes
the lesson as one standalone HTML file that needs no Python to open.

Modules: :mod:`sim.page.world` (the classroom world and what one phone meets,
no web stack), :mod:`sim.page.lesson` (the scenes), :mod:`sim.page.draw` (the
network, the phone and the plots as SVG/HTML strings), :mod:`sim.page.export`
(the standalone lesson), :mod:`sim.page.app` (the Solara page; the only module
that imports the page's stack). Nothing here is imported by the rest of ``sim``.
"""
