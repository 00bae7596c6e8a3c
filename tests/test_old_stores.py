"""Stores written by earlier versions stay readable: Tune pickles each trial namer into them."""

import pickle


def test_an_old_stores_pickled_trial_namer_still_loads():
    # the namer every store written before the presets moved to memtune.tune.grid pickled: a
    # closure whose global is memtune.tune.sweep._label (cloudpickle keeps the closure by value
    # and module functions by reference, so the reference must still resolve)
    import cloudpickle

    import memtune.tune.sweep as sweep

    def namer(trial_config):
        return sweep._label(trial_config["model"])

    blob = cloudpickle.dumps(namer)
    assert b"_label" in blob
    assert pickle.loads(blob)({"model": {"name": "cpu-xs", "d_model": 12}}) == "cpu-xs"
    assert sweep._label(3) == "3"
