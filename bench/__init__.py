"""How fast votes go through the whole system: ``make bench`` (``python -m bench``).

In one run on this machine: starts the local stack if needed and the five services as
processes (their own namespace, a free port, output to a log file); measures the broker
ceiling (persistent, confirmed publish-and-consume on a quorum queue with aio-pika, the
client FastStream runs on); creates users, a free and a paid voting, and drives votes
through the HTTP gateway at a chosen concurrency; then checks that every vote is
accounted for. Right before each of livevote's runs, the same votes go to the plain peer
(``bench.peer``: one FastAPI process, one insert per vote into the same store), and the
two are printed side by side: votes/s, p99, CPU per vote and peak memory. It prints
numbers and never asserts a speed: a benchmark, not a test.
"""
