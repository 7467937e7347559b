"""Koku's matching rules for OCP on cloud (spec ocp-on-cloud.md §3, §4.1, §8.2), on hand-made values."""

from __future__ import annotations

import pandas as pd
import pytest

from poc_tasks.cloud import jsontext as jt
from poc_tasks.cloud.matching import (
    SuffixMatcher,
    TagKey,
    contained_pairs,
    label_pairs,
    matched_tag,
    matched_tags_from_pairs,
    special_candidates,
    tag_candidates,
    tag_join_mask,
)

# --- JSON text -------------------------------------------------------------------------------------------------


def test_trino_text_sorts_keys_and_has_no_spaces():
    assert jt.trino_text({"b": "1", "a": "2", "B": "3"}) == '{"B":"3","a":"2","b":"1"}'
    assert jt.trino_text({"k": "é"}) == '{"k":"é"}'  # Trino does not escape non-ASCII


def test_canonical_text_turns_jsonb_text_into_trino_text():
    assert jt.canonical_text('{"app": "web", "tier": "db"}') == '{"app":"web","tier":"db"}'
    assert jt.canonical_text(None) is None


def test_filter_text_keeps_only_listed_keys_case_sensitively():
    keys = frozenset({"app", "openshift_project"})
    assert jt.filter_text('{"App": "x", "app": "y", "team": "z"}', keys) == '{"app":"y"}'
    assert jt.filter_text('{"team": "z"}', keys) == "{}"
    assert jt.filter_text(None, keys) is None


def test_concat_text_second_map_wins_and_null_propagates():
    assert jt.concat_text('{"a":"1","b":"2"}', '{"a":"9"}') == '{"a":"9","b":"2"}'
    assert jt.concat_text(None, '{"a":"9"}') is None
    assert jt.concat_text('{"a":"1"}', None) is None


def test_parse_map_empty_string_is_empty_map_and_garbage_is_an_error():
    assert jt.parse_map("") == {}
    assert jt.parse_map('{"n": 1, "t": true, "z": null}') == {"n": "1", "t": "true", "z": None}
    with pytest.raises(jt.TagJsonError):
        jt.parse_map("{not json")
    with pytest.raises(jt.TagJsonError):
        jt.parse_map('["a"]')
    with pytest.raises(jt.TagJsonError):
        jt.parse_map('{"a": {"nested": "x"}}')


def test_candidate_string_is_json_dumps_without_braces():
    assert jt.candidate_string("app", "web") == '"app": "web"'
    assert jt.candidate_string("k", "é") == '"k": "\\u00e9"'  # json.dumps escapes non-ASCII
    assert jt.candidate_string("k", "{x}") == '"k": "x"'  # every brace goes, values' too


def test_json_query_scalar_reads_a_key_or_null():
    assert jt.json_query_scalar('{"openshift_project":"ns-1"}', "openshift_project") == "ns-1"
    assert jt.json_query_scalar('{"openshift_project":"ns-1"}', "openshift_node") is None
    assert jt.json_query_scalar(None, "openshift_node") is None


# --- resource ids ----------------------------------------------------------------------------------------------


def test_suffix_matcher_is_an_ends_with_test():
    m = SuffixMatcher(["i-0abc", "pvc-1", "", None])
    assert m.matches("arn:aws:ec2:us-east-1:1:instance/i-0abc")
    assert m.matches("i-0abc")
    assert not m.matches("i-0abcd")  # contains, does not end with
    assert not m.matches("bc")  # shorter than every needle
    assert not m.matches("")
    assert not m.matches(None)


def test_contained_pairs_finds_every_contained_needle():
    pairs = contained_pairs(["vol-1/snap", "i-9", "vol-12"], ["vol-1", "vol-12", "", "x"])
    got = sorted(map(tuple, pairs[["haystack", "needle"]].to_numpy().tolist()))
    assert got == [("vol-1/snap", "vol-1"), ("vol-12", "vol-1"), ("vol-12", "vol-12")]


def test_contained_pairs_come_in_one_order_whatever_the_string_hash_seed():
    # The pairs' order reaches float sums downstream; a set's order changes with PYTHONHASHSEED, which made
    # reruns of one input differ in the last bit. Each seed runs in its own interpreter.
    import subprocess
    import sys

    code = ("from poc_tasks.cloud.matching import contained_pairs;"
            "hays = [f'vol-{i}/disk-{i % 7}' for i in range(200)];"
            "p = contained_pairs(hays, [f'vol-{i}' for i in range(0, 200, 3)] + [f'disk-{j}' for j in range(7)]);"
            "print(p.to_json())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in (0, 1, 2, 3)}
    assert len(outs) == 1


# --- tag candidates --------------------------------------------------------------------------------------------


def test_special_candidates_cluster_id_alias_nodes_namespaces_and_null_as_text():
    got = special_candidates("c-1", "My Cluster", ["n1", None], ["ns"])
    assert got == {'"openshift_cluster": "c-1"', '"openshift_cluster": "My Cluster"', '"openshift_node": "n1"',
                   '"openshift_node": "null"', '"openshift_project": "ns"'}


def test_tag_candidates_is_a_distinct_union():
    assert tag_candidates(['"a": "1"', '"b": "2"'], ['"b": "2"', '"c": "3"']) == ['"a": "1"', '"b": "2"',
                                                                                 '"c": "3"']


def test_matched_tag_is_a_case_sensitive_substring_of_the_raw_text():
    raw = '{"App": "web", "openshift_project": "payments"}'  # json.dumps separators, as Koku writes tags
    cands = ['"app": "web"', '"openshift_project": "payments"', '"App": "web"']
    assert matched_tag(raw, cands) == '"openshift_project": "payments","App": "web"'
    assert matched_tag(raw, ['"app": "web"']) is None
    # Trino's compact form never occurs in the raw cloud text
    assert matched_tag(raw, ['"App":"web"']) is None
    assert matched_tag(None, cands) is None
    assert matched_tag("{}", []) is None


def test_matched_tags_from_pairs_compares_case_insensitively_and_keeps_the_cloud_spelling():
    cloud = {("App", "Web"), ("env", "prod"), ("team", "x")}
    ocp = {("app", "web"), ("env", "dev"), ("team", None)}
    assert matched_tags_from_pairs(cloud, ocp) == ['"App": "Web"']


def test_label_pairs_takes_every_pair_of_a_text_that_contains_a_key_anywhere():
    texts = ['{"app":"web","tier":"1"}', '{"x":"happy"}', '{"z":"1"}', None]
    # "app" is a substring of "happy" too: Koku's strpos row filter
    assert label_pairs(texts, ["app"]) == {("app", "web"), ("tier", "1"), ("x", "happy")}


# --- the tag join (step 2 and the cluster count) ----------------------------------------------------------------


def _ocp(rows):
    cols = ["namespace", "node", "cluster_id", "cluster_alias", "pod_labels", "volume_labels", "source"]
    return pd.DataFrame(rows, columns=cols)


OCP = _ocp([
    ("payments", "worker-0", "c-1", "My Cluster", '{"app":"pay"}', None, "s1"),
    ("web", "worker-1", "c-1", "My Cluster", '{"app":"web app"}', None, "s1"),
    ("Worker unallocated", "worker-0", "c-1", "My Cluster", None, None, "s1"),
    (None, "worker-2", "c-1", "My Cluster", None, None, "s1"),
    ("db", None, "c-1", "My Cluster", None, '{"app":"pay"}', "s1"),
])


def test_tag_join_by_openshift_project_node_and_cluster():
    assert tag_join_mask(TagKey('{"openshift_project":"web"}', "x"), OCP).tolist() == [False, True, False, False,
                                                                                       False]
    # node: every namespace on the node except the unallocated one and the NULL namespace
    assert tag_join_mask(TagKey('{"openshift_node":"worker-0"}', "x"), OCP).tolist() == [True, False, False, False,
                                                                                         False]
    by_alias = tag_join_mask(TagKey('{"openshift_cluster":"My Cluster"}', "x"), OCP).tolist()
    by_id = tag_join_mask(TagKey('{"openshift_cluster":"c-1"}', "x"), OCP).tolist()
    assert by_alias == by_id == [True, True, False, False, True]
    assert not tag_join_mask(TagKey('{"openshift_cluster":"C-1"}', "x"), OCP).any()  # case-sensitive


def test_tag_join_by_matched_candidate_in_pod_or_volume_labels():
    # spaces removed from the candidate, then a substring of the compact label text
    key = TagKey('{"app":"pay"}', '"app": "pay"')
    assert tag_join_mask(key, OCP).tolist() == [True, False, False, False, True]
    # a value with a space never matches: the space is removed from the candidate only
    assert not tag_join_mask(TagKey('{"app":"web app"}', '"app": "web app"'), OCP).any()
    # the filtered tags need not hold the key: only matched_tag is tested
    assert tag_join_mask(TagKey("{}", '"app": "pay"'), OCP).tolist() == [True, False, False, False, True]


def test_tag_key_splits_candidates_on_commas():
    key = TagKey("{}", '"a": "1","b": "x, y"')
    assert key.label_needles == ('"a":"1"', '"b":"x', 'y"')  # a comma inside a value splits it (Koku's split)
