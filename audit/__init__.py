"""Compliance audits, submission packaging and its checker: `python -m audit ...`.

configs   the audit.config LoadGen reads for each compliance test
runs      what a run directory says about itself (run.json), and how to repeat its settings
runner    each compliance test (and the accuracy run) as its own LoadGen process
verify    TEST01/TEST04 verdicts, written as verify_accuracy.txt / verify_performance.txt
package   the submission tree; truncate and sysdesc supply its accuracy log and system files
rules     MLPerf's rules for resnet50, with the values compiled into LoadGen's mlperf.conf
check     the tree checked as the official submission checker does
formal    one resumable command: performance, accuracy, TEST01, TEST04, package, check
cli       `python -m audit run|verify|package|check|formal`
"""
