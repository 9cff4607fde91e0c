"""Group 2 — Graph files (``network=file``): a file that cannot be a world is refused before anything is written.

Each case writes its file into the test's folder and checks the command
in-process; afterwards the folder holds that file and nothing else. The
message names the path and, where sensible, what is allowed.
"""

from __future__ import annotations

import networkx as nx
import pytest

from tests.bad_inputs.helpers import accepted, refused, tree, write_edge_list

ALLOWED = [".csv", ".tsv", ".txt", ".edgelist", ".graphml"]


def _graphml_with_bad_age(path):
    g = nx.DiGraph()
    g.add_node("a", age="teen")
    g.add_node("b", age=30)
    g.add_edge("a", "b")
    nx.write_graphml(g, path)


# (id, file name, how to make it (None: not made), fragments besides the path)
CASES = [
    ("missing", "missing.csv", None, ["no such file", *ALLOWED]),
    ("a-directory", "graph.csv", lambda p: p.mkdir(), ["is a directory", *ALLOWED]),
    ("unknown-extension", "graph.json", lambda p: p.write_text("a b\n"),
     ["unknown extension '.json'", "allowed: .csv, .tsv, .txt, .edgelist, .graphml"]),
    ("empty-file", "empty.csv", lambda p: p.write_text(""), ["the file has no edges", *ALLOWED]),
    ("only-comments", "comments.txt", lambda p: p.write_text("# nothing\n# here\n\n"),
     ["the file has no edges", "'#' comments"]),
    ("malformed-line", "bad.tsv", lambda p: p.write_text("a\tb\nb\tc\td\te\nc\ta\n"),
     ["line 2", "has 4 field(s)", "'follower followed'"]),
    ("graphml-does-not-parse", "broken.graphml", lambda p: p.write_text("<graphml><graph"),
     ["not readable as GraphML", "ParseError"]),
    ("graphml-bad-age", "ages.graphml", _graphml_with_bad_age,
     ["node 'a' has age 'teen'", "whole numbers of years between 13 and 120"]),
    ("2-nodes", "two.csv", lambda p: p.write_text("a b\nb a\n"), ["holds 2 accounts", "at least 10"]),
    ("3-nodes", "three.csv", lambda p: p.write_text("a b\nb c\nc a\n"), ["holds 3 accounts", "at least 10"]),
    ("9-nodes-below-minimum", "nine.edgelist", lambda p: write_edge_list(p, 9), ["holds 9 accounts", "at least 10"]),
    ("34-nodes-default-20-decoys", "small.csv", lambda p: write_edge_list(p, 34),
     ["decoys.n=20 is too many for the 34 accounts", "at most 10%", "decoys.n<=3"]),
]


@pytest.mark.parametrize("name, make, fragments", [pytest.param(n, m, f, id=i) for i, n, m, f in CASES])
def test_graph_file_refused_naming_the_file_and_nothing_written(tmp_path, name, make, fragments):
    path = tmp_path / name
    if make is not None:
        make(path)
    before = tree(tmp_path)
    refused(tmp_path, ["network=file", f"network.path={path}"], [f"network.path='{path}'", *fragments])
    assert tree(tmp_path) == before == ([] if make is None else [name])


def test_a_good_file_sets_the_population_to_its_node_count(tmp_path):
    # 120 accounts allow at most 12 decoys (10%): the default 20 would be refused, as above.
    path = write_edge_list(tmp_path / "platform.csv", 120)
    checked = accepted(tmp_path, ["network=file", f"network.path={path}", "decoys.n=2", "population.n=600"])
    assert checked.runs[0].config.population.n == 120
    assert checked.runs[0].config.network.path == str(path)
    assert tree(tmp_path) == ["platform.csv"]
