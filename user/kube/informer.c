// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * List + watch of one resource into a cache (see informer.h). Each informer has its own
 * stop flag and wake-up pipe, so one can be stopped while the others go on (the pod
 * metadata informers come and go with the Services that use l4split.io/track-label).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "err.h"
#include "informer.h"
#include "util.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

static int obj_key(json_t *obj, char *key, size_t len)
{
	json_t *md = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));

	if (!name)
		return -1;
	snprintf(key, len, "%s/%s", ns ? ns : "", name);
	return 0;
}

static void set_rv(struct informer *in, json_t *obj)
{
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

	if (rv && *rv)
		snprintf(in->rv, sizeof(in->rv), "%s", rv);
}

static void changed(struct informer *in)
{
	*in->dirty = 1;
	pthread_cond_signal(in->cv);
}

static int on_event(json_t *ev, void *ctx)
{
	struct informer *in = ctx;
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	char key[512];

	if (!type || !json_is_object(obj))
		return 0;
	set_rv(in, obj);
	if (!strcmp(type, "BOOKMARK"))
		return in->stop;
	if (obj_key(obj, key, sizeof(key)))
		return in->stop;
	pthread_mutex_lock(in->mu);
	if (!strcmp(type, "DELETED"))
		json_object_del(in->cache, key);
	else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED"))
		json_object_set(in->cache, key, obj);
	(*in->events)++;
	changed(in);
	pthread_mutex_unlock(in->mu);
	return in->stop;
}

static int list(struct informer *in)
{
	char path[1200];
	json_t *doc, *items, *it, *fresh;
	long status;
	size_t i;
	int err;

	snprintf(path, sizeof(path), "%s%s%s", in->path, in->selector[0] ? "?" : "",
		 in->selector);
	in->k.accept = in->accept_list;
	err = kube_get(&in->k, path, &doc, &status);
	if (err)
		return err;
	items = json_object_get(doc, "items");
	if (!json_is_array(items)) {
		json_decref(doc);
		return l4s_err(EBADMSG, "GET %s: no items in the answer", path);
	}
	fresh = json_object();
	json_array_foreach(items, i, it) {
		char key[512];

		if (!obj_key(it, key, sizeof(key)))
			json_object_set(fresh, key, it);
	}
	in->rv[0] = 0;
	set_rv(in, doc);
	pthread_mutex_lock(in->mu);
	json_decref(in->cache);
	in->cache = fresh;
	in->synced = 1;
	(*in->relists)++;
	changed(in);
	pthread_mutex_unlock(in->mu);
	json_decref(doc);
	return 0;
}

/* Say what failed, wait, and double the next wait (at most BACKOFF_MAX_MS). */
static void backoff_wait(struct informer *in, long *backoff, const char *what)
{
	in->log("%s %s failed: %s; again in %.1f s", what, in->name, l4s_errmsg(),
		  *backoff / 1000.0);
	nap_or_stop(&in->stop, in->stop_rd, *backoff / 1000.0);
	*backoff = *backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff * 2;
}

static void *informer_thread(void *arg)
{
	struct informer *in = arg;
	long backoff = BACKOFF_MIN_MS;

	while (!in->stop) {
		int err = list(in);

		if (err && in->stop) /* the transfer ended because the informer stops */
			break;
		if (err) {
			backoff_wait(in, &backoff, "listing");
			continue;
		}
		backoff = BACKOFF_MIN_MS;
		while (!in->stop) {
			char path[1400];
			long status;

			snprintf(path, sizeof(path),
				 "%s?%s%swatch=1&allowWatchBookmarks=true&timeoutSeconds=290"
				 "&resourceVersion=%s",
				 in->path, in->selector, in->selector[0] ? "&" : "", in->rv);
			in->k.accept = in->accept_watch;
			err = kube_watch(&in->k, path, on_event, in, &status);
			if (in->stop)
				break;
			pthread_mutex_lock(in->mu);
			(*in->watch_restarts)++;
			pthread_mutex_unlock(in->mu);
			if (err == -ESTALE) {
				in->log("watch of %s: resource version %s is too old (410); listing "
					  "again", in->name, in->rv);
				break;
			}
			if (err && in->stop)
				break;
			if (err) {
				backoff_wait(in, &backoff, "watching");
				continue;
			}
			backoff = BACKOFF_MIN_MS;
		}
	}
	return NULL;
}

int informer_start(struct informer *in, const struct kube *k)
{
	int p[2];

	if (pipe(p))
		return l4s_err(errno, "cannot make a pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		fcntl(p[i], F_SETFD, FD_CLOEXEC);
		fcntl(p[i], F_SETFL, O_NONBLOCK);
	}
	in->k = *k;
	in->k.stop = &in->stop;
	in->k.stop_fd = in->stop_rd = p[0];
	in->stop_wr = p[1];
	in->k.rx_bytes = in->rx_bytes;
	in->stop = 0;
	in->rv[0] = 0;
	pthread_mutex_lock(in->mu);
	if (!in->cache)
		in->cache = json_object();
	in->synced = 0;
	pthread_mutex_unlock(in->mu);
	if (pthread_create(&in->th, NULL, informer_thread, in)) {
		close(p[0]);
		close(p[1]);
		return l4s_err(EAGAIN, "cannot start the %s informer thread", in->name);
	}
	in->running = 1;
	return 0;
}

void informer_stop(struct informer *in)
{
	if (!in->running)
		return;
	in->stop = 1;
	/* The pipe stays readable (nobody reads it): every poll() on it returns at once. */
	if (write(in->stop_wr, "", 1) < 0 && errno != EAGAIN)
		in->log("cannot wake the %s informer: %s", in->name, strerror(errno));
	pthread_join(in->th, NULL);
	close(in->stop_rd);
	close(in->stop_wr);
	in->running = 0;
	pthread_mutex_lock(in->mu);
	json_decref(in->cache);
	in->cache = NULL;
	in->synced = 0;
	pthread_mutex_unlock(in->mu);
}
