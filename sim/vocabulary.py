"""The model's vocabulary: every code and name that tags accounts, items, contacts and views.

Core objects: the cohorts, roles, ages, harm classes, contact kinds, contact
channels, sender types, conversation stages and view causes.

Each vocabulary is a tuple of names and one integer code per name, the name's
position in the tuple. The state arrays hold the codes (numpy ``int8``) and
index by them; the names are what output tables, manifests and config values
spell, so their spelling and order are part of the data contract. Codes are
plain ints, unpacked from ``range(len(names))``, so a name added to a tuple
without its code (or the reverse) fails at import.

Every module takes these names from here. Nothing here imports from ``sim``.
"""

from __future__ import annotations

# ------------------------------------------------------------------ cohorts

#: Cohort names, in output order (the ``cohort`` column of days.parquet and contacts.parquet).
COHORTS = ("minor_13_15", "minor_16_17", "adult", "decoy")
#: Cohort codes (``Population.cohort``): true age 13-15, 16-17, adult; decoys are their own cohort.
MINOR_13_15, MINOR_16_17, ADULT, DECOY = range(len(COHORTS))
#: Number of cohorts (rows of the per-day cohort matrix).
N_COHORTS = len(COHORTS)
#: Cohorts of minors who are not decoys (pooled as "minors" in the summary).
MINOR_COHORTS = (MINOR_13_15, MINOR_16_17)
#: The adult cohort (decoys excluded).
ADULT_COHORT = ADULT
#: The decoys' cohort (audit probes, whatever their age).
DECOY_COHORT = DECOY
#: Every cohort but the decoys' (all ordinary accounts, e.g. as authors).
NON_DECOY_COHORTS = (MINOR_13_15, MINOR_16_17, ADULT)

# -------------------------------------------------------------------- roles

#: Role names (``Population.role`` codes index it; the manifest counts ``role_<name>``).
ROLE_NAMES = ("regular", "creator", "adult_content_producer", "exploitative_seller", "offender")
#: Role codes. Minors are only REGULAR or CREATOR.
REGULAR, CREATOR, ADULT_CONTENT_PRODUCER, EXPLOITATIVE_SELLER, OFFENDER = range(len(ROLE_NAMES))
#: Number of roles.
N_ROLES = len(ROLE_NAMES)
#: Roles that post or seek harm; suggesting one of them to a minor is a harmful account suggestion.
HARMFUL_ROLES = (ADULT_CONTENT_PRODUCER, EXPLOITATIVE_SELLER, OFFENDER)

# --------------------------------------------------------------------- ages

#: The platforms' minimum age: no account is younger (ages below it in a graph file mean "unknown").
MIN_AGE = 13
#: Minors younger than this are "young" (the 13-15 band, cohort ``minor_13_15``).
YOUNG_BELOW = 16
#: Ages at or above this are adults (true age for cohorts, declared age for protections).
ADULT_AGE = 18
#: The oldest minor age (17).
MAX_MINOR_AGE = ADULT_AGE - 1

# ------------------------------------------------------------- harm classes

#: Harm-class names of items (``ItemStore.harm`` codes index it), mildest first.
HARM_CLASSES = ("none", "suggestive", "adult_sexual", "exploitative")
#: Harm-class codes.
NONE, SUGGESTIVE, ADULT_SEXUAL, EXPLOITATIVE = range(len(HARM_CLASSES))
#: Number of harm classes.
N_CLASSES = len(HARM_CLASSES)
#: Classes at or above this code violate platform rules (moderation removes them);
#: ``suggestive`` is borderline: allowed, but harmful for minors and filterable.
FIRST_VIOLATING = ADULT_SEXUAL
#: Names of the classes harmful to minors (every class but ``none``).
HARMFUL_CLASSES = HARM_CLASSES[SUGGESTIVE:]
#: Names of the classes that violate platform rules (``adult_sexual``, ``exploitative``).
VIOLATING_CLASSES = HARM_CLASSES[FIRST_VIOLATING:]

# ------------------------------------------------------------------ contact

#: Contact kinds (the ``kind`` column of contacts.parquet; ``Attempts.kind`` codes index it).
CONTACT_KINDS = ("follow_request", "message", "message_request", "comment", "group_add")
#: Contact-kind codes.
FOLLOW_REQUEST, MESSAGE, MESSAGE_REQUEST, COMMENT, GROUP_ADD = range(len(CONTACT_KINDS))

#: Channels through which a sender reached a target (the ``channel`` column of contacts.parquet).
#: ``known`` is contact between accounts that know each other: an ordinary adult and a minor
#: who follows them (family, teachers), or a minor and a peer they follow.
CHANNELS = ("suggestion", "group", "search", "comment", "network", "known")
#: Channel codes; COMMENT_CHANNEL is the channel ``comment`` (COMMENT is the contact kind),
#: ACQUAINTANCE is the channel ``known``.
SUGGESTION, GROUP, SEARCH, COMMENT_CHANNEL, NETWORK, ACQUAINTANCE = range(len(CHANNELS))
#: The channels through which an adult finds a minor who does not know them (every channel but
#: ``known``); a prefix of CHANNELS, so a name's position is its code.
DISCOVERY_CHANNELS = CHANNELS[:ACQUAINTANCE]

#: Sender types of contact attempts (the ``sender`` column of contacts.parquet).
SENDERS = ("offender", "adult", "minor")
#: Sender-type codes: an offender, an ordinary adult, a minor.
S_OFFENDER, S_ADULT, S_MINOR = range(len(SENDERS))

#: Stages of an adult-to-minor conversation; it only moves forward, or ends.
STAGES = ("contact", "rapport", "solicitation", "escalated", "ended")
#: Conversation-stage codes (ESCALATED: moved off-platform).
CONTACT, RAPPORT, SOLICITATION, ESCALATED, ENDED = range(len(STAGES))

# --------------------------------------------------------------- moderation

#: Why a view of a violating item happened: before the item was removed, while
#: it waited in the review queue, after a review wrongly kept it, or never caught.
VIEW_CAUSES = ("before_removal", "review_delay", "left_up", "never_detected")
#: View-cause codes.
BEFORE_REMOVAL, REVIEW_DELAY, LEFT_UP, NEVER_DETECTED = range(len(VIEW_CAUSES))
