"""The day's phases, one module each: each takes what it reads and returns what it did.

Core objects (one per phase, in the order :meth:`sim.model.ExposureModel.step` calls them):

====  ===========================  =================  ============================================
 #    function                     returns            what it does
====  ===========================  =================  ============================================
 1    :func:`post.post`            :class:`Posted`    accounts post
 2    :func:`moderate.moderate`    :class:`Moderated` hash matching, classifier, review queue
 3    :func:`serve.serve`          :class:`Served`    sessions, candidates, ranking, top-k impressions
 4    :func:`engage.engage_feeds`  :class:`Engaged`   engagement, drift, reinforcement, reports
 5    :func:`suggest.suggest`      :class:`Suggested` account and group suggestions and what they become
 6    :func:`contact.contact`      :class:`Contacted` discovery, attempts, safeguards, responses
 7    :func:`enforce.enforce`      :class:`Enforced`  bans, ban evasion, daily safeguards, expiry
====  ===========================  =================  ============================================

A phase changes the world state it owns (items removed, accounts banned, a
conversation's stage), and everything a later phase or the measurement needs
from it is in the record it returns: nothing passes between phases through
attributes. :mod:`sim.measurement` turns the records into the day's counters.

Import each phase from its own module (``from sim.phases.serve import serve``):
this package imports none of them, so no phase module imports in a circle.
"""
