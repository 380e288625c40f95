"""`pileprep run --no-wait`: check the inputs and the output directory, build the graph, hand it to
the runner, and return without waiting for the job or reading its manifest.

    python deploy/submit.py run --input 'gs://B/pile/train/*.jsonl.zst' --output gs://B/out \
        --model-size 590M --runner DataflowRunner --project P --region R ...

Use it wherever the process that builds the pipeline must not block on it: a Dataflow Flex
Template launcher (Google: "The program that constructs the pipeline must exit after run is
called ... Don't call wait_until_finish"; deploy/dataflow/main.py calls this), building a portable
uber-jar with --output_executable_path (Spark, Flink), or fire-and-forget submission. The job marks
its own completion the usual way: DIR/manifest.json appears last; check it with `pileprep verify`.
"""
import sys


def main(argv=None) -> int:
    from pipeline.cli import main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"] and "--no-wait" not in argv:
        argv.insert(1, "--no-wait")
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
