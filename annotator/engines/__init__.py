"""Ways to run a batch past one process: worker processes on one machine (``processes``) and
Ray actors across machines (``ray_engine``). Both do the same thing per clip (``worker``):
claim it from the ``workitem`` table (annotator/work_queue.py), run one phase of it with a
Runner whose models loaded once in that process, record the outcome. The claim table is the
only scheduler, so process workers, ``annotator worker`` elsewhere and Ray actors mix."""
