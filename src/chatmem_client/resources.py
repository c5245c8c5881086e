"""``client.memory``, ``client.message`` and ``client.user``: each method and its ``a``-prefixed
async twin are generated from one endpoint function (see ``operation.py``)."""

from __future__ import annotations

from chatmem_client.endpoints import memory, message, user
from chatmem_client.operation import Resource, async_pages, asynchronous, sync, sync_pages


class MemoryClient(Resource):
    """Sessions and their messages ("memory")."""

    add_session = sync(memory.add_session)
    aadd_session = asynchronous(memory.add_session)
    update_session = sync(memory.update_session)
    aupdate_session = asynchronous(memory.update_session)
    get_session = sync(memory.get_session)
    aget_session = asynchronous(memory.get_session)
    delete_memory = sync(memory.delete_memory)
    adelete_memory = asynchronous(memory.delete_memory)
    list_sessions = sync(memory.list_sessions)
    alist_sessions = asynchronous(memory.list_sessions)
    list_all_sessions = sync_pages(memory.list_all_sessions)
    alist_all_sessions = async_pages(memory.list_all_sessions)
    add_memory = sync(memory.add_memory)
    aadd_memory = asynchronous(memory.add_memory)
    get_memory = sync(memory.get_memory)
    aget_memory = asynchronous(memory.get_memory)
    search_memory = sync(memory.search_memory)
    asearch_memory = asynchronous(memory.search_memory)


class MessageClient(Resource):
    """Single messages of a session: page through them, read one, merge its metadata."""

    get_session_messages = sync(message.get_session_messages)
    aget_session_messages = asynchronous(message.get_session_messages)
    get_session_message = sync(message.get_session_message)
    aget_session_message = asynchronous(message.get_session_message)
    update_message_metadata = sync(message.update_message_metadata)
    aupdate_message_metadata = asynchronous(message.update_message_metadata)


class UserClient(Resource):
    """Users, who own sessions."""

    add = sync(user.add_user)
    aadd = asynchronous(user.add_user)
    get = sync(user.get_user)
    aget = asynchronous(user.get_user)
    update = sync(user.update_user)
    aupdate = asynchronous(user.update_user)
    delete = sync(user.delete_user)
    adelete = asynchronous(user.delete_user)
    list = sync(user.list_users)
    alist = asynchronous(user.list_users)
    list_chunked = sync_pages(user.list_users_chunked)
    alist_chunked = async_pages(user.list_users_chunked)
    get_sessions = sync(user.get_user_sessions)
    aget_sessions = asynchronous(user.get_user_sessions)
    search = sync(user.search_user)
    asearch = asynchronous(user.search_user)
