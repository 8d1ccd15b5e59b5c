"""The app without Qt: the project document, typed settings, datasets, the one run builder
(``build_run``), training a project (``runner.train``), run folders, exporting, and the errors a
user can act on. The window, the command line and ``mpiexec`` ranks all train through here."""
