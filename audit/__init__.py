"""Compliance audits, submission packaging and its checker: `python -m audit ...`.

configs   the audit.config LoadGen reads for each compliance test
runs      what a run directory says about itself (run.json), and how to repeat its settings
runner    each compliance test (and the accuracy run) as its own LoadGen process
verify    TEST01/TEST04 verdicts, written as verify_accuracy.txt / verify_performance.txt
package   the submission tree of the installed LoadGen's round; truncate, sysdesc and source
          supply its accuracy log, descriptions and src/
rules     the official checker's rules for resnet50 in round v6.1; the round of LoadGen's seeds
check     the tree checked as the official submission checker does (systemcheck: the system
          JSON and required scenarios; crosscheck: every figure against its other records)
formal    one resumable command per scenario or system: performance, accuracy, TEST01, TEST04,
          package, check
cli       `python -m audit run|verify|package|check|formal`
"""
