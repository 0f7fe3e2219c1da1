"""A small SOAP 1.1 service for the soap-source tests: people of a registry, document/literal.

It is a real one as far as a client can tell: ``GET /service?wsdl`` serves a WSDL 1.1 document
(its ``soap:address`` is the URL the client used), and ``POST /service`` parses the request
envelope with lxml and answers a SOAP response envelope, or a SOAP Fault (HTTP 500) for a request
it cannot answer: not an envelope, an unknown operation, a ``since`` that is not an
``xsd:dateTime``, an unknown ``region``. With ``credentials`` set, both need HTTP basic auth.

``GetPeople(region?, since?)`` answers ``total`` and ``people/person*``, the people whose
``updated`` is at or after ``since`` (inclusive, as many real services are: the client must skip
what it already has), oldest first. ``requests`` records what each call asked, so a test can check
what the connector sent.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from fastapi import FastAPI, Request, Response
from lxml import etree

SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
NS: Final = "urn:ndxp:test:people"
REGIONS: Final = frozenset({"HN", "HCM", "DN"})
XML_TYPE: Final = "text/xml; charset=utf-8"
# No DTDs, entities or network: the parser reads only what the request holds.
PARSER: Final = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

WSDL: Final = """<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="urn:ndxp:test:people"
    targetNamespace="urn:ndxp:test:people">
  <wsdl:types>
    <xsd:schema targetNamespace="urn:ndxp:test:people" elementFormDefault="qualified">
      <xsd:complexType name="Person">
        <xsd:sequence>
          <xsd:element name="id" type="xsd:long"/>
          <xsd:element name="name" type="xsd:string" minOccurs="0"/>
          <xsd:element name="age" type="xsd:int"/>
          <xsd:element name="born" type="xsd:date" minOccurs="0"/>
          <xsd:element name="balance" type="xsd:decimal" minOccurs="0"/>
          <xsd:element name="updated" type="xsd:dateTime"/>
        </xsd:sequence>
      </xsd:complexType>
      <xsd:complexType name="PersonList">
        <xsd:sequence>
          <xsd:element name="person" type="tns:Person" minOccurs="0" maxOccurs="unbounded"/>
        </xsd:sequence>
      </xsd:complexType>
      <xsd:element name="GetPeople">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="region" type="xsd:string" minOccurs="0"/>
            <xsd:element name="since" type="xsd:dateTime" minOccurs="0"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="GetPeopleResponse">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="total" type="xsd:int"/>
            <xsd:element name="people" type="tns:PersonList"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="GetPeopleRequest">
    <wsdl:part name="parameters" element="tns:GetPeople"/>
  </wsdl:message>
  <wsdl:message name="GetPeopleResponse">
    <wsdl:part name="parameters" element="tns:GetPeopleResponse"/>
  </wsdl:message>
  <wsdl:portType name="PeoplePortType">
    <wsdl:operation name="GetPeople">
      <wsdl:input message="tns:GetPeopleRequest"/>
      <wsdl:output message="tns:GetPeopleResponse"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="PeopleBinding" type="tns:PeoplePortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="GetPeople">
      <soap:operation soapAction="urn:ndxp:test:people#GetPeople" style="document"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="PeopleService">
    <wsdl:port name="PeoplePort" binding="tns:PeopleBinding">
      <soap:address location="{location}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""


@dataclass
class Person:
    id: int
    name: str | None  # None: the element is left out
    age: int
    updated: datetime
    born: date | None = None
    balance: Decimal | None = None


@dataclass(frozen=True)
class Asked:
    """One GetPeople call as the service understood it."""

    region: str | None
    since: datetime | None


class SoapFault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class SoapService:
    """The service's data and what it was asked; ``app()`` serves it."""

    people: list[Person] = field(default_factory=list)
    credentials: tuple[str, str] | None = None
    requests: list[Asked] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/service")
        async def wsdl(request: Request) -> Response:
            if not self._authorized(request):
                return _unauthorized()
            location = str(request.url.replace(query=""))
            return Response(WSDL.replace("{location}", location), media_type=XML_TYPE)

        @app.post("/service")
        async def call(request: Request) -> Response:
            if not self._authorized(request):
                return _unauthorized()
            try:
                body = self.answer(await request.body())
            except SoapFault as fault:
                return Response(_fault(fault), status_code=500, media_type=XML_TYPE)
            return Response(body, media_type=XML_TYPE)

        return app

    def _authorized(self, request: Request) -> bool:
        if self.credentials is None:
            return True
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        expected_user, expected_password = self.credentials
        return secrets.compare_digest(username.encode(), expected_user.encode()) and (
            secrets.compare_digest(password.encode(), expected_password.encode())
        )

    def answer(self, body: bytes) -> bytes:
        try:
            envelope = etree.fromstring(body, PARSER)
        except etree.XMLSyntaxError as exc:
            raise SoapFault("Client", f"the request is not XML: {exc}") from None
        operation = envelope.find(f"{{{SOAP_ENV}}}Body/*")
        if envelope.tag != f"{{{SOAP_ENV}}}Envelope" or operation is None:
            raise SoapFault("Client", "the request is not a SOAP 1.1 envelope with a body")
        if operation.tag != f"{{{NS}}}GetPeople":
            raise SoapFault("Client", f"no operation {etree.QName(operation).localname!r}")
        return self.get_people(operation)

    def get_people(self, request: etree._Element) -> bytes:
        region = request.findtext(f"{{{NS}}}region")
        since_text = request.findtext(f"{{{NS}}}since")
        since = None
        if since_text is not None:
            try:
                since = datetime.fromisoformat(since_text)
            except ValueError:
                raise SoapFault("Client", f"since is not an xsd:dateTime: {since_text!r}") from None
            if since.tzinfo is None:  # the people's times are instants: a bare one is ambiguous
                raise SoapFault("Client", f"since needs a UTC offset: {since_text!r}")
        self.requests.append(Asked(region, since))
        if region is not None and region not in REGIONS:
            raise SoapFault("Client", f"unknown region {region!r}")
        found = sorted(
            (p for p in self.people if since is None or p.updated >= since),
            key=lambda p: p.updated,
        )
        envelope, body = _envelope()
        response = etree.SubElement(body, f"{{{NS}}}GetPeopleResponse", nsmap={"p": NS})
        etree.SubElement(response, f"{{{NS}}}total").text = str(len(found))
        people = etree.SubElement(response, f"{{{NS}}}people")
        for person in found:
            _person(etree.SubElement(people, f"{{{NS}}}person"), person)
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def _person(element: etree._Element, person: Person) -> None:
    values = {
        "id": str(person.id),
        "name": person.name,
        "age": str(person.age),
        "born": person.born.isoformat() if person.born else None,
        "balance": format(person.balance, "f") if person.balance is not None else None,
        "updated": person.updated.isoformat(),
    }
    for name, text in values.items():
        if text is not None:
            etree.SubElement(element, f"{{{NS}}}{name}").text = text


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    return envelope, etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")


def _fault(fault: SoapFault) -> bytes:
    envelope, body = _envelope()
    element = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    # SOAP 1.1: faultcode and faultstring are unqualified; the code is a QName of the envelope ns.
    etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.message
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def _unauthorized() -> Response:
    return Response(
        "authentication required",
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="people"'},
        media_type="text/plain",
    )
