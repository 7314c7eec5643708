"""ifg: sparse attention masks as data.

Named patterns, 2-D enumerations (ESA), the information-flow graph, the Full Information check,
the heads of an attention layer and their mask file. Imports numpy and scipy (networkx and
matplotlib only where a graph or a figure is made); never torch.

>>> import ifg
>>> ifg.check(ifg.pattern("ltr", 81, enumeration="manhattan")).full_information
True
>>> ifg.depth(ifg.pattern("neighborhood:kernel=3", grid=(8, 8))).layers
6
"""

from importlib.metadata import PackageNotFoundError, version as _version

from ifg import io
from ifg.blocks import OrderReport, StepBlocks, block_counts
from ifg.check import CheckReport, check, full_information, lower_bound_edges
from ifg.depth import DepthReport, depth
from ifg.enumerations import enumeration, enumerations, grid_of
from ifg.errors import InvalidArgument, MaskFileError, YLGError
from ifg.families import families
from ifg.extend import Extension, ExtensionInfeasible, extend, lower_bound, strided_extension
from ifg.graph import information_flow_graph, reference_missing_pairs
from ifg.io import load, save
from ifg.locality import StepLocality, locality
from ifg.maskset import Head, MaskSet, layer, preset, to_maskset
from ifg.pattern import Pattern, layout
from ifg.patterns import patterns, stride
from ifg.spec import pattern
from ifg.search import Search, SearchResult, search

try:
    __version__ = _version("ylg-toolkit")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Pattern", "pattern", "patterns", "stride",
    "enumeration", "enumerations", "grid_of", "layout",
    "CheckReport", "check", "full_information", "lower_bound_edges",
    "information_flow_graph", "reference_missing_pairs",
    "Head", "MaskSet", "layer", "preset", "to_maskset", "io", "load", "save",
    "YLGError", "InvalidArgument", "MaskFileError",
    "Extension", "ExtensionInfeasible", "extend", "lower_bound", "strided_extension",
    "StepLocality", "locality", "Search", "SearchResult", "search",
    "families", "DepthReport", "depth", "StepBlocks", "OrderReport", "block_counts",
]
