// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Leader election on a Lease (see lease.h): get, decide (lease_next), then create or
 * replace with the resourceVersion read. The record's renewTime is never compared
 * with this node's clock; only "has the record changed since I last looked, and how
 * long ago was that on my clock" decides whether a holder is gone.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "err.h"
#include "lease.h"
#include "util.h"

/* Now as a Kubernetes MicroTime: 2006-01-02T15:04:05.000000Z. */
static void micro_time(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char s[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%.19s.%06dZ", s, (int)(ts.tv_nsec / 1000) % 1000000);
}

int lease_next(const struct lease_record *cur, const char *me, double observed_at,
	       double now_mono, double duration, const char *now_wall,
	       struct lease_record *next)
{
	memset(next, 0, sizeof(*next));
	snprintf(next->holder, sizeof(next->holder), "%s", me);
	next->duration_s = (long)duration;
	snprintf(next->renew, sizeof(next->renew), "%s", now_wall);
	if (!cur) { /* nobody has it: create */
		snprintf(next->acquire, sizeof(next->acquire), "%s", now_wall);
		return 1;
	}
	/* Another holder that renewed (changed the record) within its duration, on our
	 * clock, keeps it. Its own leaseDurationSeconds counts, as in client-go. */
	if (cur->holder[0] && strcmp(cur->holder, me) &&
	    observed_at + (double)(cur->duration_s > 0 ? cur->duration_s : (long)duration) >
		    now_mono)
		return 0;
	if (!strcmp(cur->holder, me)) { /* a renewal */
		snprintf(next->acquire, sizeof(next->acquire), "%s", cur->acquire);
		next->transitions = cur->transitions;
	} else { /* a take-over (of an expired or released lease) */
		snprintf(next->acquire, sizeof(next->acquire), "%s", now_wall);
		next->transitions = cur->transitions + 1; /* as client-go: the holder changed */
	}
	return 1;
}

void lease_init(struct lease *l, struct kube *k, const char *ns, const char *name,
		const char *identity)
{
	memset(l, 0, sizeof(*l));
	l->k = k;
	snprintf(l->ns, sizeof(l->ns), "%s", ns);
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->identity, sizeof(l->identity), "%s", identity);
	l->duration = LEASE_DURATION_S;
	l->renew_deadline = LEASE_RENEW_S;
	l->retry = LEASE_RETRY_S;
	pthread_mutex_init(&l->mu, NULL);
}

static void record_from(json_t *lease, struct lease_record *r)
{
	json_t *spec = json_object_get(lease, "spec");
	const char *s;

	memset(r, 0, sizeof(*r));
	if ((s = json_string_value(json_object_get(spec, "holderIdentity"))))
		snprintf(r->holder, sizeof(r->holder), "%s", s);
	if ((s = json_string_value(json_object_get(spec, "acquireTime"))))
		snprintf(r->acquire, sizeof(r->acquire), "%s", s);
	if ((s = json_string_value(json_object_get(spec, "renewTime"))))
		snprintf(r->renew, sizeof(r->renew), "%s", s);
	r->duration_s = (long)json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	r->transitions = (long)json_integer_value(json_object_get(spec, "leaseTransitions"));
}

static json_t *spec_of(const struct lease_record *r)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity", r->holder,
			 "leaseDurationSeconds", (json_int_t)r->duration_s, "acquireTime",
			 r->acquire, "renewTime", r->renew, "leaseTransitions",
			 (json_int_t)r->transitions);
}

static void observe(struct lease *l, const struct lease_record *r, double now)
{
	if (!l->have_observed || memcmp(&l->observed, r, sizeof(*r))) {
		l->observed = *r;
		l->have_observed = 1;
		l->observed_at = now;
	}
}

/* Write @next over the Lease read as @doc (NULL: create it). 0, or -errno. */
static int lease_write(struct lease *l, json_t *doc, const struct lease_record *next)
{
	char path[512];
	json_t *body;
	long status;
	int err;

	if (!doc) {
		body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion",
				 "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
				 l->name, "namespace", l->ns, "spec", spec_of(next));
		snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases",
			 l->ns);
		err = body ? kube_post(l->k, path, body, NULL, &status) : -ENOMEM;
	} else {
		body = json_deep_copy(doc);
		if (body)
			json_object_set_new(body, "spec", spec_of(next));
		snprintf(path, sizeof(path),
			 "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", l->ns, l->name);
		err = body ? kube_put(l->k, path, body, NULL, &status) : -ENOMEM;
	}
	json_decref(body);
	return err;
}

int lease_try(struct lease *l)
{
	struct lease_record cur, next;
	char path[512], now_wall[40];
	json_t *doc = NULL;
	long status;
	double now = mono_now();
	int err, take;

	snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
		 l->ns, l->name);
	micro_time(now_wall, sizeof(now_wall));
	err = kube_get(l->k, path, &doc, &status);
	if (err && err != -ENOENT)
		return err;
	pthread_mutex_lock(&l->mu);
	if (doc) {
		record_from(doc, &cur);
		observe(l, &cur, now);
	}
	take = lease_next(doc ? &cur : NULL, l->identity, l->observed_at, now, l->duration,
			  now_wall, &next);
	pthread_mutex_unlock(&l->mu);
	if (!take) {
		json_decref(doc);
		return 0;
	}
	err = lease_write(l, doc, &next);
	json_decref(doc);
	if (err == -EEXIST || err == -ESTALE) /* another candidate wrote first */
		return 0;
	if (err)
		return err;
	pthread_mutex_lock(&l->mu);
	observe(l, &next, now);
	l->renewed_at = now;
	pthread_mutex_unlock(&l->mu);
	return 1;
}

int lease_leading(struct lease *l)
{
	int leading;

	pthread_mutex_lock(&l->mu);
	leading = l->leading && mono_now() - l->renewed_at < l->renew_deadline;
	pthread_mutex_unlock(&l->mu);
	return leading;
}

int lease_release(struct lease *l)
{
	struct lease_record next;
	char path[512], now_wall[40];
	struct kube k = *l->k, *saved = l->k;
	json_t *doc;
	long status;
	int err;

	/* Also after the agent stopped (its transfers end at once then): transfers of its
	 * own, bounded by the client's timeouts. */
	k.stop = NULL;
	k.stop_fd = -1;
	snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
		 l->ns, l->name);
	err = kube_get(&k, path, &doc, &status);
	if (err)
		return err;
	record_from(doc, &next);
	if (strcmp(next.holder, l->identity)) { /* not ours (any more) */
		json_decref(doc);
		return 0;
	}
	micro_time(now_wall, sizeof(now_wall));
	next.holder[0] = 0;
	next.duration_s = 1;
	snprintf(next.renew, sizeof(next.renew), "%s", now_wall);
	snprintf(next.acquire, sizeof(next.acquire), "%s", now_wall);
	l->k = &k;
	err = lease_write(l, doc, &next);
	l->k = saved;
	json_decref(doc);
	return err;
}

static void set_leading(struct lease *l, int leading)
{
	int was;

	pthread_mutex_lock(&l->mu);
	was = l->leading;
	l->leading = leading;
	if (leading && !was)
		l->transitions_seen++;
	pthread_mutex_unlock(&l->mu);
	if (was != leading && l->on_change)
		l->on_change(leading, l->ctx);
}

static void *lease_thread(void *arg)
{
	struct lease *l = arg;
	unsigned int seed = (unsigned int)(mono_now() * 1e6);
	int logged = 0;

	while (!(l->k->stop && *l->k->stop)) {
		int r = lease_try(l), leading;

		pthread_mutex_lock(&l->mu);
		leading = l->leading;
		pthread_mutex_unlock(&l->mu);
		if (r == 1) {
			set_leading(l, 1);
			logged = 0;
		} else if (leading) {
			int other;

			pthread_mutex_lock(&l->mu);
			other = l->have_observed && strcmp(l->observed.holder, l->identity);
			pthread_mutex_unlock(&l->mu);
			/* Another holder has it, or the deadline passed without a renewal:
			 * stop before anybody else may start. */
			if (other || mono_now() - l->renewed_at >= l->renew_deadline)
				set_leading(l, 0);
		}
		if (r < 0 && !logged++ && !(l->k->stop && *l->k->stop))
			fprintf(stderr, "l4split-agent: lease %s/%s: %s (retrying every %.0f s)\n",
				l->ns, l->name, l4s_errmsg(), l->retry);
		/* The holder renews every retry period; candidates wait a jittered one
		 * (client-go's JitterFactor 1.2) so they do not all ask at once. */
		nap_or_stop(l->k->stop, l->k->stop_fd, r == 1 ? l->retry :
				      l->retry * (1.0 + 1.2 * (double)rand_r(&seed) / RAND_MAX));
	}
	if (lease_leading(l) || l->leading) {
		set_leading(l, 0);
		lease_release(l);
	}
	return NULL;
}

int lease_start(struct lease *l)
{
	if (pthread_create(&l->th, NULL, lease_thread, l))
		return l4s_err(EAGAIN, "cannot start the lease thread");
	l->started = 1;
	return 0;
}

void lease_join(struct lease *l)
{
	if (l->started)
		pthread_join(l->th, NULL);
	l->started = 0;
}
