"""Everything a runner ships to workers pickles with both of Beam's picklers, and the whole graph
round-trips through its runner API proto (what Dataflow, Spark and Flink receive)."""
import pytest
from apache_beam.internal import cloudpickle_pickler, dill_pickler

from pipeline.graph import build
from pipeline.options import RunConfig
from pipeline.runners import make_pipeline
from transforms import dedup, dedup_exact, dedup_near, filter as filter_, normalize, pack, read, split, tokenize, \
    tokenizer, write
from transforms.minhash import DedupConfig, MinHashConfig
from transforms.rules import load_rules
from transforms.normalizer import NormalizeConfig
from transforms.placement import PackConfig
from transforms.inputs import InputFile, ReadConfig
from transforms.tokenizer import TokenizeConfig

PICKLERS = {"cloudpickle": cloudpickle_pickler, "dill": dill_pickler}


def _objects():
    pack_config = PackConfig(out_dir="gs://bucket/out", target_tokens=10_000)
    return [
        read._ReadFileFn(ReadConfig(("gs://bucket/*.jsonl.zst",), seed=3)),
        split._PlanFileFn(256 << 20), split._CountLinesFn(),
        normalize._NormalizeFn(NormalizeConfig("nfkc")),
        filter_._FilterFn(load_rules("slimpajama")),
        tokenize._TokenizeFn(TokenizeConfig()),
        pack._PlaceRangeFn(pack_config), pack._WriteShardFn(pack_config), pack._HistogramFn(pack_config.range_bits),
        write.WriteDocuments("gs://bucket/out", files=4).fn, write.WriteRejects("gs://bucket/out").fn,
        tokenizer.load(TokenizeConfig()),
        dedup_near._SignFn(MinHashConfig(shingles="char13")), dedup.WriteRemovals("gs://bucket/out").fn,
        dedup_exact.TagFn(dedup_exact.resolve_exact, drop_duplicates=True), DedupConfig(mode="minhash"),
        RunConfig(inputs=("a",), output="b", model_size="111M"),
    ]


@pytest.mark.parametrize("library", sorted(PICKLERS))
def test_dofns_and_configs_pickle(library):
    pickler = PICKLERS[library]
    for obj in _objects():
        clone = pickler.loads(pickler.dumps(obj))
        assert type(clone) is type(obj)
        if hasattr(obj, "config"):
            assert clone.config == obj.config
    tok = pickler.loads(pickler.dumps(tokenizer.load(TokenizeConfig())))
    assert tok.encode("Hello world").tolist() == [15496, 995]


def test_graph_round_trips_through_the_runner_api(tmp_path):
    import apache_beam as beam

    src = tmp_path / "a.jsonl"
    src.write_text('{"text": "hello", "meta": {"pile_set_name": "Pile-CC"}}\n')
    config = RunConfig(inputs=(str(src),), output=str(tmp_path / "out"), dedup="minhash",
                       holdout=(str(src),), model_size="111M")
    p = make_pipeline(["--direct_running_mode=in_memory"])
    files = [InputFile(str(src), "a.jsonl", src.stat().st_size)]
    build(p, config, files, files)
    proto = p.to_runner_api()
    names = {t.unique_name for t in proto.components.transforms.values()}
    for stage in ("ReadPile", "Normalize", "FilterDocuments", "Deduplicate", "Tokenize", "Pack", "WriteManifest",
                  "ReadHoldout"):
        assert stage in names
    again = beam.Pipeline.from_runner_api(proto, p.runner, p._options)
    assert again.to_runner_api().components.transforms.keys() == proto.components.transforms.keys()
