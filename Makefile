# zerodowntime.cluster — the two commands users need are `make demo` and `make test`.
# Everything else here is what they depend on; every target is idempotent.

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := .build
COLLECTIONS := $(BUILD)/collections
LINK := $(COLLECTIONS)/ansible_collections/zerodowntime/cluster
SANITY_TREE := ansible_collections/zerodowntime/cluster
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: test test-fast demo setup deps venv collection-link sanity lint unit integration integration-fast molecule images ee-image bench package-check clean help

# Parallel workers overlap one test's waits on its lab (drains, soaks, timeouts) with another's
# work; each test's lab has its own workdir and ports reserved across processes
# (tests/labs/labcommon/ports.py). Most of the suite's time is CPU (Ansible starting modules),
# so more workers than this mostly add contention on 2 cores.
PYTEST_WORKERS ?= 4
# Three scenarios at a time, the longest first so that the stage does not end with one running
# alone (four at a time took 438 s instead of about 300: the labs' JVMs and containers contend).
MOLECULE_WORKERS ?= 3
MOLECULE_LONGEST := emqx_blue_green kilda_blue_green emqx_operator_upgrade kilda_rollback

help:
	@echo "make demo       - upgrade a 3 blue -> 3 green EMQX lab cluster under live MQTT load, write the report"
	@echo "make test       - every test: sanity, unit, integration against the labs, Molecule (what CI runs)"
	@echo "make test-fast  - sanity, unit and the integration tests not marked slow (the inner loop)"
	@echo "make bench      - benchmarks (ratios against baselines measured in the same run)"
	@echo "make lint       - ansible-lint production profile over roles and playbooks, then make package-check"
	@echo "make package-check - build the artifact and check it as Galaxy / Automation Hub do on upload"

# ---- set-up -------------------------------------------------------------------------------

# Debian packages for the labs (ZooKeeper, mosquitto, HAProxy, podman...); installs only what is missing.
deps:
	@pkgs=$$(grep -v '^\s*#' tests/debian-packages.txt | tr -s ' \n' ' ')
	missing=""
	for p in $$pkgs; do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done
	if [ -n "$$missing" ]; then
	  echo "installing Debian packages:$$missing"
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo )
	  $$SUDO apt-get update -q
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing
	fi

$(VENV)/.stamp: requirements.txt tests/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r tests/requirements.txt
	touch $@

# Test-only bytecode cache for the modules Ansible imports from AnsiballZ zips (see the file):
# installed with a .pth line that imports it at start-up; active only where ZDT_ANSIBALLZ_CACHE
# is set (the test suite and Molecule), and ZDT_ANSIBALLZ_ZIP_CACHE for the shared payloads.
ANSIBALLZ_CACHE := $(CURDIR)/$(BUILD)/ansiballz-cache
ANSIBALLZ_PAYLOADS := $(CURDIR)/$(BUILD)/ansiballz-payloads
$(VENV)/.ansiballz-cache.stamp: $(VENV)/.stamp tests/tools/zdt_ansiballz_bytecode_cache.py
	site=$$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
	cp tests/tools/zdt_ansiballz_bytecode_cache.py $$site/
	echo "import zdt_ansiballz_bytecode_cache" > $$site/zdt_ansiballz_bytecode_cache.pth
	rm -rf $(ANSIBALLZ_CACHE) $(ANSIBALLZ_PAYLOADS)
	touch $@

# ansible-core releases that meta/runtime.yml admits and this Python runs, besides the newest
# (the main venv, which also runs the integration tests and Molecule). Sanity and unit tests
# run on each of them too.
OLDER_CORES ?= 2.18
OLDER_VENVS := $(foreach v,$(OLDER_CORES),$(VENV)-core$(v))

$(VENV)-core%/.stamp: requirements.txt tests/requirements.txt
	test -x $(VENV)-core$*/bin/python || $(PYTHON) -m venv $(VENV)-core$*
	$(VENV)-core$*/bin/python -m pip install -q --upgrade pip
	# The test requirements without the tools that pin the newest ansible-core (and the labs' delay library).
	grep -vE '^(ansible-core|molecule|ansible-lint|galaxy-importer|antsibull-changelog|NetfilterQueue)' tests/requirements.txt > $(VENV)-core$*/requirements.txt
	$(VENV)-core$*/bin/python -m pip install -q "ansible-core==$*.*" -r requirements.txt -r $(VENV)-core$*/requirements.txt
	touch $@

venv: $(VENV)/.stamp $(VENV)/.ansiballz-cache.stamp $(foreach v,$(OLDER_VENVS),$(v)/.stamp)

# Everything the tests need installed. The virtualenvs (mostly pip unpacking, one core each) and
# the image are built side by side, each one's output printed when it is done.
setup:
	@$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory -j2 --output-sync=target venv collection-link images
	$(MAKE) --no-print-directory ee-image

# The repository root is the collection root; Ansible and pytest find it through this link.
collection-link:
	@mkdir -p $(dir $(LINK))
	ln -sfn ../../../.. $(LINK)

# ---- tests --------------------------------------------------------------------------------

# ansible-test wants a real ansible_collections/<ns>/<name> tree: copy the tracked and new files,
# one tree per run, and run them side by side (each ansible-test uses one core). pylint takes
# four fifths of a run, so it runs once, on the newest ansible-core and in a process of its own,
# beside the other tests on each ansible-core: the stage then takes about as long as pylint.
# ansible-test bootstraps pip in its venvs with a script from a host this machine may not
# reach; cache a stand-in that uses ensurepip + PyPI instead (ansible-test prefers the cache).
# Each run's output goes to a log of its own, printed when it fails. SANITY_ARGS (for example
# "--test pep8") runs just that, once per SANITY_VENVS. Each run has a home of its own, kept
# between runs: ansible-test keeps its venvs under ~/.ansible/test, and two runs building the same
# one at once (the import test's, on a machine that has none yet) broke one of them. pip keeps
# reading the user's configuration (package indexes) and cache.
SANITY_HOMES := $(HOME)/.cache/zdt-sanity
SANITY_VENVS := $(VENV) $(OLDER_VENVS)
SANITY_RUNS := $(VENV):pylint $(VENV):others $(foreach v,$(OLDER_VENVS),$(v):others)

sanity: venv
	@logs=$(BUILD)/sanity-logs; rm -rf $(BUILD)/sanity $$logs; mkdir -p $$logs
	runs="$(SANITY_RUNS)"; [ -z "$(SANITY_ARGS)" ] || runs="$(foreach v,$(SANITY_VENVS),$(v):args)"
	for run in $$runs; do
	  venv=$${run%%:*}; part=$${run#*:}
	  case $$part in pylint) args="--test pylint";; others) args="--skip-test pylint";; *) args="$(SANITY_ARGS)";; esac
	  core=$$($$venv/bin/python -c "import ansible.release as r; print(r.__version__)")
	  pip_version=$$($$venv/bin/python -c "import re,ansible_test._internal.python_requirements as m; print(re.search(r\"pip='([^']+)'\", open(m.__file__).read()).group(1))")
	  name=$$core-$$part; home=$(SANITY_HOMES)/$$name; mkdir -p $$home/.ansible/test/cache
	  script=$$home/.ansible/test/cache/get_pip_$${pip_version//./_}.py
	  sed "s|@OUTER_PYTHON@|$(CURDIR)/$(PY)|" tests/tools/get_pip_offline.py > $$script.$$$$ && mv $$script.$$$$ $$script
	  root=$(BUILD)/sanity/$$name/$(SANITY_TREE); mkdir -p $$root
	  git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C $$root -xf -
	  (cd $$root && git init -q && git add -A)
	  echo "== ansible-test sanity with ansible-core $$core ($$args)"
	  ( rc=0; cd $$root && HOME=$$home XDG_CONFIG_HOME=$(HOME)/.config XDG_CACHE_HOME=$(HOME)/.cache $(CURDIR)/$$venv/bin/ansible-test sanity --color no --python 3.11 --requirements $$args \
	    > $(CURDIR)/$$logs/$$name.log 2>&1 || rc=$$?; echo $$rc > $(CURDIR)/$$logs/$$name.rc ) &
	done
	wait
	status=0
	for rc in $$logs/*.rc; do
	  name=$$(basename $$rc .rc)
	  if [ "$$(cat $$rc)" = 0 ]; then echo "== sanity passed on ansible-core $${name%%-*}, $${name#*-} ($$(grep -c '^Running sanity test' $$logs/$$name.log || true) tests)"
	  else status=1; echo "== sanity FAILED on ansible-core $${name%%-*}, $${name#*-}; its log:"; cat $$logs/$$name.log; fi
	done
	exit $$status

# One run per ansible-core, side by side (each uses one core); each one's output is printed whole.
unit: venv collection-link
	@logs=$(BUILD)/unit-logs; rm -rf $$logs; mkdir -p $$logs
	for venv in $(SANITY_VENVS); do
	  core=$$($$venv/bin/python -c 'import ansible.release as r; print(r.__version__)')
	  ( rc=0; $$venv/bin/python -m pytest -q -p no:cacheprovider tests/unit > $$logs/$$core.log 2>&1 || rc=$$?; echo $$rc > $$logs/$$core.rc ) &
	done
	wait
	status=0
	for rc in $$logs/*.rc; do
	  core=$$(basename $$rc .rc)
	  echo "== unit tests with ansible-core $$core"; cat $$logs/$$core.log
	  [ "$$(cat $$rc)" = 0 ] || status=1
	done
	exit $$status

# The longest tests first (tests/conftest.py orders them), one at a time to whichever worker is
# free: --dist load alone first hands each worker a run of a quarter of its share in collection
# order, so one worker got eight of the long tests in a row and ran on alone at the end.
integration: deps venv collection-link images ee-image
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist load --maxschedchunk 1 --durations=25 tests/integration

# The integration tests that take under 5 s each (tests that take longer carry the slow mark).
integration-fast: deps venv collection-link images
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal -m "not slow" tests/integration

# The lab image (Debian base via debootstrap, then the lab image) for --containers labs and Molecule.
images: deps
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo )
	$$SUDO tests/labs/images/build.sh

# The execution environment (extensions/ee) the AWX job tests run jobs in, built offline: its base
# from the labs' Debian image, Python wheels prepared here from PyPI, then ansible-builder with
# podman. Rebuilt only when its definition, the Python requirements or the ansible-core and
# ansible-runner of the venv change: the tests mount this checkout's collection over the one in
# the image, so a change to the collection needs no rebuild.
EE_IMAGE := localhost/zdt-ee:latest
EE_STAGE := $(BUILD)/ee
ee-image: images venv
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo )
	core=$$($(PY) -c 'import ansible.release as r; print(r.__version__)')
	runner=$$($(PY) -c 'import importlib.metadata as m; print(m.version("ansible-runner"))')
	key=$$( (cat extensions/ee/* requirements.txt; echo "$$core $$runner") | sha256sum | cut -c1-16)
	if $$SUDO podman image exists $(EE_IMAGE) \
	   && [ "$$($$SUDO podman image inspect -f '{{ index .Labels "zdt.key" }}' $(EE_IMAGE))" = "$$key" ]; then
	  echo "== $(EE_IMAGE) is up to date"; exit 0
	fi
	start=$$(date +%s)
	rm -rf $(EE_STAGE); mkdir -p $(EE_STAGE)/collection
	$$SUDO podman build -q -t localhost/zdt-ee-base:latest --build-arg BASE=localhost/debian:bookworm -f extensions/ee/base.Containerfile extensions/ee
	cp extensions/ee/execution-environment.yml extensions/ee/requirements.yml requirements.txt $(EE_STAGE)/
	$(PY) -m pip wheel -q -w $(EE_STAGE)/wheels -r requirements.txt "ansible-core==$$core" "ansible-runner==$$runner" \
	  bindep pyyaml packaging dumb-init==1.2.5 wheel setuptools pip
	$(VENV)/bin/ansible-galaxy collection build --force --output-path $(EE_STAGE) . > /dev/null
	mv $(EE_STAGE)/zerodowntime-cluster-*.tar.gz $(EE_STAGE)/collection/zerodowntime-cluster.tar.gz
	$$SUDO $(VENV)/bin/ansible-builder build -f $(EE_STAGE)/execution-environment.yml -c $(EE_STAGE)/context -t $(EE_IMAGE) \
	  --container-runtime podman --build-arg PKGMGR_PRESERVE_CACHE=always --extra-build-cli-args "--label zdt.key=$$key" \
	  > $(EE_STAGE)/build.log 2>&1 || { cat $(EE_STAGE)/build.log; exit 1; }
	echo "== $(EE_IMAGE) built in $$(( $$(date +%s) - start ))s"

# Scenarios run side by side: each has its own ephemeral directory, lab workdir and ports.
# Each one's output goes to a log of its own, printed whole when it fails.
molecule: deps venv collection-link images
	@all=$$(for m in molecule/*/molecule.yml; do [ -e "$$m" ] && basename $$(dirname $$m); done)
	scenarios=$$(for s in $(MOLECULE_LONGEST) $$all; do echo $$s; done | awk '!seen[$$0]++' | grep -xF -f <(printf '%s\n' $$all))
	[ -n "$$scenarios" ] || { echo "no Molecule scenario found" >&2; exit 1; }
	logs=$(BUILD)/molecule; rm -rf $$logs; mkdir -p $$logs
	echo "== molecule test, $(MOLECULE_WORKERS) at a time:" $$scenarios
	export ZDT_ANSIBALLZ_ZIP_CACHE=$$($(PY) -c "import zdt_ansiballz_bytecode_cache as z; print(z.zip_cache_dir('$(ANSIBALLZ_PAYLOADS)', '$(CURDIR)'))")
	printf '%s\n' $$scenarios | xargs -P $(MOLECULE_WORKERS) -I{} bash -c \
	  'start=$$(date +%s); if ZDT_ANSIBALLZ_CACHE=$(ANSIBALLZ_CACHE) $(VENV)/bin/molecule test -s {} > '$$logs'/{}.log 2>&1; then r=passed; else r=FAILED; fi; \
	   echo "{} $$r $$(( $$(date +%s) - start ))s" | tee '$$logs'/{}.result'
	failed=0
	for s in $$scenarios; do
	  if ! grep -q " passed " $$logs/$$s.result 2>/dev/null; then
	    failed=1; echo "== molecule scenario $$s failed; its log:"; cat $$logs/$$s.log
	  fi
	done
	exit $$failed

bench: deps venv collection-link
	@for b in tests/bench/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(PY) $$b; done

# Every stage runs even when an earlier one failed, so one run shows every failure; the time
# of each stage is printed at the end. Both cores are busy through every stage, so stages run one
# after the other: running the Molecule scenarios beside the integration tests saved 100 s of
# 1870 and loaded the machine so much that three timing-sensitive Xenon tests failed.
STAGES := setup sanity lint unit integration molecule
test:
	@$(call run_stages,$(STAGES))

test-fast:
	@$(call run_stages,setup sanity lint unit integration-fast)

define run_stages
mkdir -p $(BUILD); times=$(BUILD)/stages.txt; : > $$times; status=0; total_start=$$(date +%s)
for stage in $(1); do
  start=$$(date +%s)
  if $(MAKE) --no-print-directory $$stage; then result=passed; else result=FAILED; status=1; fi
  printf '%-18s %5ss  %s\n' $$stage $$(( $$(date +%s) - start )) $$result >> $$times
  [ $$stage != setup ] || [ $$status = 0 ] || break
done
echo; echo "== time per stage"; cat $$times
printf '%-18s %5ss\n' total $$(( $$(date +%s) - total_start ))
exit $$status
endef

# ---- release checks -----------------------------------------------------------------------

# ansible-lint's production profile over the roles and playbooks (no skips, no ignore file), then
# what Galaxy runs on upload. ansible-lint installs the collection
# under .ansible/ to resolve its FQCNs; that copy is not linted twice.
# The two mostly use one core each, so they run side by side; each one's output is printed whole.
lint: venv collection-link
	@status=0
	rm -rf .ansible
	# Its own HOME: a copy of this collection that Molecule installs in ~/.ansible/collections would
	# otherwise be used to resolve the FQCNs instead of the checkout.
	mkdir -p $(BUILD)/lint-home
	log=$(BUILD)/ansible-lint.log
	( HOME=$(CURDIR)/$(BUILD)/lint-home $(VENV)/bin/ansible-lint --profile production --nocolor -f pep8 roles/ playbooks/ extensions/ > $$log 2>&1 ) &
	lint=$$!
	$(MAKE) --no-print-directory package-check || status=1
	wait $$lint || status=1
	echo "== ansible-lint --profile production"; cat $$log
	rm -rf .ansible
	exit $$status

# What Galaxy and Automation Hub do on upload: build the artifact and run galaxy-importer on it
# (ansible-doc on every module, the changelog check, ansible-lint's production profile), offline
# and without a container engine (tests/galaxy-importer.cfg). galaxy-importer only fails on
# errors and logs ansible-lint findings as warnings, but Galaxy shows every warning on the
# collection's page: any ERROR or WARNING line fails here. Then the changelog fragments and
# changelogs/changelog.yaml must pass antsibull-changelog's lint.
PACKAGE_CHECK := $(BUILD)/package-check
package-check: venv
	@start=$$(date +%s); status=0
	rm -rf $(PACKAGE_CHECK) && mkdir -p $(PACKAGE_CHECK)/home
	$(VENV)/bin/ansible-galaxy collection build --force --output-path $(PACKAGE_CHECK) .
	artifact=$$(ls $(PACKAGE_CHECK)/*.tar.gz)
	# build_ignore must keep the test suite, labs and local tool output out of the artifact.
	if tar -tzf $$artifact | grep -E '^(tests|molecule|out|\.venv[^/]*|\.build|\.ansible)(/|$$)'; then
	  echo "== package-check: the files above must not be in the artifact (galaxy.yml build_ignore)"; status=1
	fi
	# galaxy-importer writes importer_result.json into its working directory: run it in the build
	# directory. Its own HOME, because ansible-lint also lints a copy of this collection installed
	# in ~/.ansible/collections (Molecule installs one) instead of checking the artifact alone.
	log=$(PACKAGE_CHECK)/galaxy-importer.log
	importer=0
	(cd $(PACKAGE_CHECK) && env -u ANSIBLE_COLLECTIONS_PATH HOME=$(CURDIR)/$(PACKAGE_CHECK)/home \
	  GALAXY_IMPORTER_CONFIG=$(CURDIR)/tests/galaxy-importer.cfg \
	  $(CURDIR)/$(PY) -m galaxy_importer.main $$(basename $$artifact)) > $$log 2>&1 || importer=$$?
	grep -v '^Loading ' $$log || true
	if [ $$importer != 0 ] || grep -qE '^\[?(ERROR|WARNING)' $$log; then
	  echo "== package-check: galaxy-importer reported $$(grep -cE '^\[?ERROR' $$log) error and $$(grep -cE '^\[?WARNING' $$log) warning lines (exit status $$importer); full log: $$log"
	  status=1
	fi
	$(VENV)/bin/antsibull-changelog lint || status=1
	$(VENV)/bin/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml || status=1
	echo "== package-check $$( [ $$status = 0 ] && echo passed || echo FAILED ) in $$(( $$(date +%s) - start ))s"
	exit $$status

# ---- the demo -----------------------------------------------------------------------------

demo: deps venv collection-link
	@if [ ! -f playbooks/emqx_blue_green.yml ] || [ ! -d tests/labs/emqx_lab ]; then
	  echo "make demo: the EMQX blue-green role and lab are not delivered yet (issue 3); nothing was run." >&2
	  exit 1
	fi
	$(PY) tests/labs/demo.py

clean:
	rm -rf $(BUILD) out
