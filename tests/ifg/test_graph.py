import ifg


def test_ifg_has_layered_nodes_and_one_edge_per_mask_entry():
    p = ifg.pattern("fixed", 9)
    g = ifg.information_flow_graph(p)
    assert g.number_of_nodes() == 27
    assert g.number_of_edges() == sum(p.edges)
    assert g.has_edge((0, 2), (1, 2)) and g.has_edge((1, 2), (2, 5))
    assert not g.has_edge((1, 5), (2, 2))
    assert {d["layer"] for _, d in g.nodes(data=True)} == {0, 1, 2}


def test_reference_agrees_on_the_published_facts():
    assert ifg.reference_missing_pairs(ifg.pattern("ltr", 16, enumeration="manhattan")) == 0
    assert ifg.reference_missing_pairs(ifg.pattern("strided", 16)) == 16 * 15 // 2
