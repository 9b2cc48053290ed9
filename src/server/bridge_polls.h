/*
 * bridge_polls.h - polls over MQTT (docs/api.md, "Over MQTT" and "Voting
 * over MQTT"): every poll's results retained on agora/polls/{id}/results,
 * votes taken from agora/polls/{id}/vote, refused votes answered on
 * agora/users/{name}/notices.
 *
 * The server alone publishes the results (the poll as api_poll_payload
 * shows it, QoS 1, retained):
 *  - after every change the polls module reports (polls_observe, whichever
 *    way the change came: REST, MQTT, the line protocol). The poll is
 *    marked, and published once at the end of the loop turn however many
 *    votes it got in that turn;
 *  - when a poll's closing time passes (one timer, for the nearest one);
 *  - for every poll at attach (retained messages do not outlive the
 *    process, polls do).
 * Notices go out at the end of the turn too, after the acknowledgement of
 * the vote they answer.
 *
 * Ownership: struct bridge_polls is the caller's (the server embeds it).
 * init allocates nothing; attach and the turns grow its arrays; release
 * frees them and stops observing. The timer handle is unref'ed (it never
 * keeps the loop running) and is closed with the loop's other handles
 * (server_free's uv_walk) before release.
 */
#ifndef AGORA_BRIDGE_POLLS_H
#define AGORA_BRIDGE_POLLS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct broker;
struct net;
struct polls;

struct bridge_polls_closing {
	int64_t id, at; /* an open poll and its closes_at */
};

struct bridge_polls_notice {
	char *topic, *payload; /* malloc'ed; published at the end of the turn */
};

struct bridge_polls {
	struct broker *broker;
	struct polls *polls; /* not owned; NULL until attached */
	uv_timer_t closer;   /* fires at the nearest closing time */
	int64_t armed_at;    /* the closes_at it is armed for, 0: stopped */
	int64_t *dirty;      /* polls changed this loop turn, each once */
	uint32_t ndirty, dirty_cap;
	struct bridge_polls_closing *closing; /* every open poll with a closing time */
	uint32_t nclosing, closing_cap;
	struct bridge_polls_notice *notices;
	uint32_t nnotices, notices_cap;
};

/* Sets bp up on loop and registers its turn hook on net. Call it before
 * the MQTT service registers its own (mqtt_service_init): net runs turn
 * hooks in that order, and what is published here must reach the broker's
 * dirty clients before the MQTT service hands them to the connections, so
 * that it goes out in the same turn. */
void bridge_polls_init(struct bridge_polls *bp, uv_loop_t *loop, struct net *net,
		       struct broker *b);

/* Observes ps (which must outlive bp's use), publishes the results of
 * every poll and arms the closing timer. Returns 0, or -1 (logged) when ps
 * has no room for another observer. */
int bridge_polls_attach(struct bridge_polls *bp, struct polls *ps);

/* Stops observing; frees what bp holds (the timer must be closed). */
void bridge_polls_release(struct bridge_polls *bp);

/*
 * A vote: account's PUBLISH of payload (len bytes: an option's label or
 * number as UTF-8 text, one trailing newline ignored) on
 * agora/polls/{id}/vote, id being id_len bytes of the topic
 * (access_vote_write). Casts it through polls_vote and returns the MQTT 5
 * reason code of its acknowledgement (broker_hooks.take_publish): 0x00
 * stored, 0x80 the store failed, 0x83 poll closed, 0x87 account deleted,
 * 0x90 no such poll, 0x97 already voted, 0x99 not an option. A refusal is
 * logged, written in why ("code: sentence", the Reason String) and
 * answered on agora/users/{account}/notices.
 */
int bridge_polls_vote(struct bridge_polls *bp, const char *account, const uint8_t *id,
		      size_t id_len, const uint8_t *payload, size_t len, char *why, size_t why_cap);

#endif
