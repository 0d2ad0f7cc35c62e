# The project's durable global properties, read and written by the code that keeps them
# (event checkpoints, job checkpoints, the auto-routing journal), for
# tests/integration/test_durable_properties.py. /raw/<id>: the text Orthanc holds (PUT stores
# one, as an older runtime wrote it). /read/<feature>: what that code reads after a start
# (its cache forgotten). /write/<feature>: that code records what the JSON body says.
import json

import orthanc

from recipes.routing_journal import Journal
from runtime import Request, plugin, route


def session():
    """The running start of the plugin, which owns the event and job checkpoints."""
    found = plugin.current()
    assert found is not None, 'the plugin has no session'
    return found


@route('/raw/{id:int}', methods=['GET', 'PUT'])
def raw(request: Request):
    property_id = request.params['id']
    if request.method == 'PUT':
        orthanc.SetGlobalProperty(property_id, request.body.decode())
        return {}
    return {'text': orthanc.GetGlobalProperty(property_id, '')}


@route('/read/{feature}')
def read(request: Request):
    feature, query = request.params['feature'], request.query
    if feature == 'events':
        session().hub.checkpoints.forget_cache()
        return {'position': session().hub.checkpoints.get(query['handler'])}
    if feature == 'jobs':
        session().jobs.durable.reset_cache()
        saved = session().jobs.durable.get(query['key'])
        return {'saved': None if saved is None else list(saved)}
    journal = Journal()
    journal.load()
    return {'pending': journal.pending(), 'job': journal.job_of(query['key']),
            'sent': journal.already_sent(query['key'], query['last_update']),
            'counts': journal.counts()}


@route('/write/{feature}', methods=['POST'])
def write(request: Request):
    feature, query = request.params['feature'], json.loads(request.body)
    if feature == 'events':
        session().hub.checkpoints.advance(query['handler'], int(query['seq']))
        session().hub.checkpoints.flush()
    elif feature == 'jobs':
        session().jobs.durable.forget(query['key'])
    else:
        journal = Journal()
        journal.load()
        journal.mark_pending(query['resource'], 'Study')
    return {}
