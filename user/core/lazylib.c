// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define L4S_LAZYLIB_IMPL
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include "err.h"
#include "lazylib.h"

struct lazy_curl_fns lazy_curl_fn;
struct lazy_mhd_fns lazy_mhd_fn;

struct sym {
	const char *name;
	void **slot;
};

/* dlopen @soname and fill every slot, or fill none. */
static int load(const char *soname, const char *package, const struct sym *syms, int n)
{
	void *h, *p[32];

	if (n > 32) /* a table longer than p[]: a programming error */
		return l4s_err(E2BIG, "%s: too many symbols to load", soname);
	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		l4s_err(ENOENT, "cannot load %s: %s", soname, dlerror());
		l4s_hint("install it: apt-get install %s", package);
		return -ENOENT;
	}
	for (int i = 0; i < n; i++) {
		p[i] = dlsym(h, syms[i].name);
		if (!p[i]) {
			l4s_err(ENOENT, "%s has no %s: %s", soname, syms[i].name, dlerror());
			l4s_hint("install a current %s", package);
			dlclose(h);
			return -ENOENT;
		}
	}
	for (int i = 0; i < n; i++)
		*syms[i].slot = p[i];
	return 0; /* the handle stays open for the life of the process */
}

#define SYM(fns, field, name) { #name, (void **)&(fns).field }
#define NSYMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;

/* Load once, however many threads ask: @loaded is the slot filled last. */
static int load_once(void **loaded, const char *soname, const char *package,
		     const struct sym *syms, int n)
{
	int err = 0;

	pthread_mutex_lock(&lazy_lock);
	if (!*loaded)
		err = load(soname, package, syms, n);
	pthread_mutex_unlock(&lazy_lock);
	return err;
}

int lazy_curl(void)
{
	static const struct sym syms[] = {
		SYM(lazy_curl_fn, global_init, curl_global_init),
		SYM(lazy_curl_fn, global_cleanup, curl_global_cleanup),
		SYM(lazy_curl_fn, easy_init, curl_easy_init),
		SYM(lazy_curl_fn, easy_setopt, curl_easy_setopt),
		SYM(lazy_curl_fn, easy_getinfo, curl_easy_getinfo),
		SYM(lazy_curl_fn, easy_perform, curl_easy_perform),
		SYM(lazy_curl_fn, easy_cleanup, curl_easy_cleanup),
		SYM(lazy_curl_fn, easy_strerror, curl_easy_strerror),
		SYM(lazy_curl_fn, slist_append, curl_slist_append),
		SYM(lazy_curl_fn, multi_init, curl_multi_init),
		SYM(lazy_curl_fn, multi_add_handle, curl_multi_add_handle),
		SYM(lazy_curl_fn, multi_remove_handle, curl_multi_remove_handle),
		SYM(lazy_curl_fn, multi_perform, curl_multi_perform),
		SYM(lazy_curl_fn, multi_poll, curl_multi_poll),
		SYM(lazy_curl_fn, multi_info_read, curl_multi_info_read),
		SYM(lazy_curl_fn, multi_cleanup, curl_multi_cleanup),
		SYM(lazy_curl_fn, slist_free_all, curl_slist_free_all),
	};

	/* slist_free_all is the slot filled last (the table's order): loaded when set */
	return load_once((void **)&lazy_curl_fn.slist_free_all, "libcurl.so.4", "libcurl4", syms,
			 NSYMS(syms));
}

int lazy_mhd(void)
{
	static const struct sym syms[] = {
		SYM(lazy_mhd_fn, start_daemon, MHD_start_daemon),
		SYM(lazy_mhd_fn, stop_daemon, MHD_stop_daemon),
		SYM(lazy_mhd_fn, create_response_from_buffer, MHD_create_response_from_buffer),
		SYM(lazy_mhd_fn, add_response_header, MHD_add_response_header),
		SYM(lazy_mhd_fn, queue_response, MHD_queue_response),
		SYM(lazy_mhd_fn, destroy_response, MHD_destroy_response),
	};

	return load_once((void **)&lazy_mhd_fn.destroy_response, "libmicrohttpd.so.12",
			 "libmicrohttpd12", syms, NSYMS(syms));
}
