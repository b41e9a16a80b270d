"""Every figure ebmspec writes, drawn with matplotlib's Agg canvas (no pyplot state).

`figures` (the canvas, sizes and PNG/PDF bytes), `pixels` (image variables -> pixels in [0, 1]),
`grids` (sample grids), `pictures` (`eval`'s conditional grids and density plot), `charts`
(reliability diagrams, OOD histograms) and `curves` (training curves of run folders).
"""
